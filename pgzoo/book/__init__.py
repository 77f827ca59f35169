"""The book itself: closed-form cases (:class:`BookCase`), ``pgzoo verify``, the figures of
chapter 13 and Example 13.1."""

from pgzoo.book.case import BookCase

__all__ = ["BookCase"]
