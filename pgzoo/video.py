"""``pgzoo eval --video``: the evaluation episodes of a trained policy, recorded to one MP4.

The environment renders ``rgb_array`` frames (gymnasium's ``render_mode``; no display needed)
and :class:`FrameRecorder` streams every frame to ffmpeg through imageio-ffmpeg as it comes:
one frame in memory at a time, one file for all episodes. A video has one frame per reset and
one per step: sum over episodes of (steps + 1) frames.

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

from pgzoo import atomic
from pgzoo.engine.envs import make_env
from pgzoo.engine.evaluation import evaluate
from pgzoo.errors import UsageError
from pgzoo.policies import Policy


class FrameRecorder(gym.Wrapper):
    """Sends the rendered frame after every ``reset`` and ``step`` to an imageio-ffmpeg writer
    (opened at the first frame, with its size); :meth:`close` finishes the file."""

    def __init__(self, env: gym.Env, path: Path, fps: int) -> None:
        super().__init__(env)
        self.path, self.fps, self.frames = path, fps, 0
        self._writer: Any = None

    def _record(self) -> None:
        import imageio_ffmpeg

        frame = self.env.render()
        if self._writer is None:
            height, width = frame.shape[:2]
            self._writer = imageio_ffmpeg.write_frames(str(self.path), (width, height), fps=self.fps,
                                                       macro_block_size=1, ffmpeg_log_level="error")
            self._writer.send(None)
        self._writer.send(frame)
        self.frames += 1

    def reset(self, **kwargs: Any) -> Any:
        out = self.env.reset(**kwargs)
        self._record()
        return out

    def step(self, action: Any) -> Any:
        out = self.env.step(action)
        self._record()
        return out

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        super().close()


def _video_library() -> None:
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError as e:
        raise UsageError(f"--video needs imageio-ffmpeg ({e}); install it with: pip install 'pgzoo[video]'") from None


def _renderable_env(env_id: str, max_episode_steps: int | None) -> gym.Env:
    # headless: pygame (classic control's renderer) then needs no display or sound device
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    plain = make_env(env_id, max_episode_steps)
    modes = plain.metadata.get("render_modes") or ()
    plain.close()
    if "rgb_array" not in modes:
        raise UsageError(f"{env_id} cannot render images (its render modes: {', '.join(modes) or 'none'}): no video")
    return make_env(env_id, max_episode_steps, render_mode="rgb_array")


def record_video(
    policy: Policy,
    env_id: str,
    seeds: Sequence[int],
    deterministic: bool,
    max_episode_steps: int | None,
    out: str | Path,
    **evaluate_kwargs: Any,
) -> list[float]:
    """Run one evaluation episode per seed (as :func:`pgzoo.engine.evaluation.evaluate` does,
    with the same returns; ``evaluate_kwargs`` go to it: ``step_cap``, ``continuing_steps``,
    ``scale_images``) and write them, one after another, to the MP4 file ``out`` (replaced
    atomically); return the returns.

    Raises :class:`UsageError` if the environment cannot render ``rgb_array`` images,
    imageio-ffmpeg is missing or ``out``'s folder does not exist.
    """
    _video_library()
    out = Path(out)
    if not out.parent.is_dir():
        raise UsageError(f"--video {out}: folder {out.parent} does not exist")
    probe = _renderable_env(env_id, max_episode_steps)  # fails before evaluating
    fps = int(probe.metadata.get("render_fps") or 30)
    probe.close()
    with atomic.replacing(out, suffix=out.suffix or ".mp4") as tmp:
        returns = evaluate(policy, env_id, seeds, deterministic, max_episode_steps, **evaluate_kwargs,
                           env_factory=lambda: FrameRecorder(_renderable_env(env_id, max_episode_steps), tmp, fps))
    return returns
