"""``pgzoo eval --video``: the evaluation episodes of a trained policy, recorded to one MP4 or GIF.

The environment renders ``rgb_array`` frames (gymnasium's ``render_mode``; no display needed)
and :class:`FrameRecorder` streams every frame to ffmpeg through imageio-ffmpeg as it comes:
one frame in memory at a time, one file for all episodes. A video has one frame per reset and
one per step: sum over episodes of (steps + 1) frames.

The rendering contract is checked before and while recording: before the evaluation runs, the
output's suffix (``.mp4``: H.264; ``.gif``: ffmpeg's GIF encoder with a palette made for the
video), that the environment declares ``rgb_array``, accepts ``render_mode`` and renders an RGB
image of ``uint8``; while recording, that every frame has the first one's shape and dtype. After
recording, the file's frames are counted (ffmpeg decodes it) and must be exactly the frames sent.
Any of these failing is one line, and no file is left (the video is written to a temporary file
renamed at the end, :mod:`pgzoo.atomic`).

Not gymnasium's ``RecordVideo``: it encodes through moviepy, which drops the last frame of some
episodes (moviepy 2.2 writes 10 frames for 11 at 50 fps: the clip's duration 11/50 s, times 50,
rounds down to 10 in floating point), and it keeps a whole episode's frames in memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from pgzoo import atomic
from pgzoo.engine.envs import make_env
from pgzoo.engine.evaluation import evaluate
from pgzoo.engine.normalization import Normalization
from pgzoo.errors import EnvError, PgzooError, UsageError
from pgzoo.policies import Policy

FORMATS = {
    # H.264 needs even sides: an odd one gets a black row or column (no scaling of the frames)
    ".mp4": {"codec": "libx264", "pix_fmt_out": "yuv420p", "output_params": ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]},
    # GIF: 256 colours, a palette computed from the whole video (ffmpeg holds it until the end)
    ".gif": {"codec": "gif", "pix_fmt_out": "pal8",
             "output_params": ["-filter_complex", "split[a][b];[a]palettegen[p];[b][p]paletteuse"]},
}
"""The video formats ``--video`` writes, by suffix, with their ffmpeg settings."""


def _describe_frame(frame: Any) -> str:
    if isinstance(frame, np.ndarray):
        return f"an array of shape {frame.shape} and dtype {frame.dtype}"
    return f"{type(frame).__name__} {str(frame)[:40]!r}"


class FrameRecorder(gym.Wrapper):
    """Sends the rendered frame after every ``reset`` and ``step`` to an imageio-ffmpeg writer
    (opened at the first frame, with its size); :meth:`close` finishes the file and checks that
    it holds exactly :attr:`frames` frames.

    Raises :class:`EnvError` if ``render()`` raises or returns anything but an RGB image of
    ``uint8`` of the first frame's shape, and :class:`PgzooError` if ffmpeg fails or writes
    another number of frames.
    """

    def __init__(self, env: gym.Env, env_id: str, path: Path, fps: int) -> None:
        super().__init__(env)
        self.env_id, self.path, self.fps, self.frames = env_id, path, fps, 0
        self._writer: Any = None
        self._shape: tuple[int, ...] | None = None
        self._step = 0

    def _record(self) -> None:
        import imageio_ffmpeg

        step = self._step or None
        try:
            frame = self.env.render()
        except Exception as e:  # the environment's own code
            raise EnvError.raised(self.env_id, "render()", e, step) from e
        first = self._shape is None
        if first:
            check_frame(frame, self.env_id)
            self._shape = frame.shape
            height, width = frame.shape[:2]
            self._writer = imageio_ffmpeg.write_frames(str(self.path), (width, height), fps=self.fps,
                                                       macro_block_size=1, ffmpeg_log_level="quiet",
                                                       **FORMATS[self.path.suffix.lower()])
            self._writer.send(None)
        elif not (isinstance(frame, np.ndarray) and frame.shape == self._shape and frame.dtype == np.uint8):
            raise EnvError(self.env_id, "render()", f"returned {_describe_frame(frame)} as frame {self.frames + 1} "
                                                    f"of the video, whose frames are {self._shape} of uint8 (its "
                                                    f"first): a video's frames must all have one size; no video "
                                                    f"written", step)
        try:
            self._writer.send(np.ascontiguousarray(frame))
        except OSError as e:
            raise PgzooError(f"ffmpeg stopped writing {self.path.name} at frame {self.frames + 1} "
                             f"({str(e).splitlines()[0]}); no video written") from None
        self.frames += 1

    def reset(self, **kwargs: Any) -> Any:
        out = self.env.reset(**kwargs)
        self._step = 0
        self._record()
        return out

    def step(self, action: Any) -> Any:
        out = self.env.step(action)
        self._step += 1
        self._record()
        return out

    def close(self) -> None:
        """Close the environment and let ffmpeg finish the file (see :meth:`verify`)."""
        writer, self._writer = self._writer, None
        try:
            super().close()
        finally:
            if writer is not None:
                writer.close()

    def verify(self) -> None:
        """After :meth:`close`: a :class:`PgzooError` unless the file holds exactly :attr:`frames`
        frames (ffmpeg decodes and counts them)."""
        import imageio_ffmpeg

        try:
            written = imageio_ffmpeg.count_frames_and_secs(str(self.path))[0] if self.frames else 0
        except (OSError, RuntimeError):
            written = 0
        if written != self.frames:
            raise PgzooError(f"ffmpeg wrote {written} of the {self.frames} frames of the video; no video written")


def check_frame(frame: Any, env_id: str) -> None:
    """An :class:`EnvError` unless ``frame`` is an RGB image: an array ``(H, W, 3)`` of ``uint8``."""
    if not (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
            and frame.shape[0] > 0 and frame.shape[1] > 0):
        raise EnvError(env_id, "render()", f"returned {_describe_frame(frame)} in render mode rgb_array, not an RGB "
                                           "image (height, width, 3) of uint8: no video")


def check_output(out: str | Path) -> Path:
    """The video file ``out`` if pgzoo can write it: a ``.mp4`` or ``.gif`` in an existing folder,
    with imageio-ffmpeg installed; else a one-line :class:`UsageError`."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError as e:
        raise UsageError(f"--video needs imageio-ffmpeg ({e}); install it with: pip install 'pgzoo[video]'") from None
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"--video {out}: pgzoo writes {' or '.join(FORMATS)} videos (H.264 or GIF); "
                         f"name the file {out.with_suffix('.mp4').name} or {out.with_suffix('.gif').name}")
    if not out.parent.is_dir():
        raise UsageError(f"--video {out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise UsageError(f"--video {out}: is a folder")
    return out


def _renderable_env(env_id: str, max_episode_steps: int | None, normalization: Normalization | None = None) -> gym.Env:
    # headless: pygame (classic control's renderer) then needs no display or sound device
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    plain = make_env(env_id, max_episode_steps)
    modes = plain.metadata.get("render_modes") or ()
    plain.close()
    if "rgb_array" not in modes:
        raise UsageError(f"{env_id} cannot render images (its render modes: {', '.join(modes) or 'none'}): no video")
    try:
        return make_env(env_id, max_episode_steps, normalization, render_mode="rgb_array")
    except EnvError as e:
        if "render_mode" in e.problem:
            raise EnvError(env_id, "its constructor", "takes no render_mode argument, though its metadata declares "
                                                      "the render mode rgb_array: no video") from None
        raise


def check_renderable(env_id: str, max_episode_steps: int | None, seed: int) -> int:
    """Check, before anything is recorded, that ``env_id`` renders ``rgb_array`` images (it
    declares the mode, its constructor takes ``render_mode`` and its first frame after a reset
    with ``seed`` is an RGB image of ``uint8``); return its frames per second (``render_fps``,
    default 30). Raises :class:`UsageError` for an environment that declares no ``rgb_array``
    mode and :class:`EnvError` for one that breaks its declaration."""
    probe = _renderable_env(env_id, max_episode_steps)
    try:
        probe.reset(seed=int(seed))
        try:
            frame = probe.render()
        except Exception as e:  # the environment's own code
            raise EnvError.raised(env_id, "render()", e) from e
        check_frame(frame, env_id)
        return int(probe.metadata.get("render_fps") or 30)
    finally:
        probe.close()


def record_video(
    policy: Policy,
    env_id: str,
    seeds: Sequence[int],
    deterministic: bool,
    max_episode_steps: int | None,
    out: str | Path,
    normalization: Normalization | None = None,
    **evaluate_kwargs: Any,
) -> tuple[list[float], int]:
    """Run one evaluation episode per seed (as :func:`pgzoo.engine.evaluation.evaluate` does,
    with the same returns; ``evaluate_kwargs`` go to it: ``step_cap``, ``continuing_steps``,
    ``scale_images``, ``statistics``; ``normalization`` as the run's environments) and write
    them, one after another, to the MP4 or GIF file
    ``out`` (replaced atomically, and only once whole); return the returns and the number of frames.

    Raises :class:`UsageError` for an output pgzoo cannot write or an environment that cannot
    render images, :class:`EnvError` if the environment breaks the rendering contract (see the
    module), :class:`PgzooError` if ffmpeg does not write every frame.
    """
    out = check_output(out)
    fps = check_renderable(env_id, max_episode_steps, seeds[0] if seeds else 0)
    recorders: list[FrameRecorder] = []

    def recording() -> FrameRecorder:
        recorders.append(FrameRecorder(_renderable_env(env_id, max_episode_steps, normalization), env_id, tmp, fps))
        return recorders[-1]

    with atomic.replacing(out, suffix=out.suffix) as tmp:
        returns = evaluate(policy, env_id, seeds, deterministic, max_episode_steps, **evaluate_kwargs,
                           env_factory=recording)
        recorders[0].verify()
    return returns, recorders[0].frames
