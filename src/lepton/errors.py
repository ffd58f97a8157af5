"""The exceptions Lepton raises: every message says what was wrong, what was found, and what to do."""

from __future__ import annotations


class LeptonError(Exception):
    """Base of every error Lepton raises on purpose."""


class UserError(LeptonError, ValueError):
    """Bad input or configuration: printed as one line by the CLI, exit status 2."""


class IntakeError(UserError):
    """A model Lepton cannot read or convert to ONNX."""


class EngineUnavailable(UserError):
    """An engine that is not installed or not usable on this machine was asked for."""


class CandidateError(LeptonError):
    """One candidate variant failed: the navigator records it and keeps searching."""


class PassError(CandidateError):
    """A pass crashed or produced an invalid model."""


class NotApplicable(CandidateError):
    """A pass does not apply to this model or this hardware; the message says why."""


class EngineError(CandidateError):
    """An engine failed to open or run a model."""


class ServeError(LeptonError):
    """An error the server maps to an HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (or its type name), cut to ``limit`` characters.

    Third-party tools raise messages of many lines; a user-facing error quotes only the first.
    """
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


def one_line(error: BaseException, limit: int = 500) -> str:
    """An exception's whole message folded onto one line (ORT and onnx put the useful part on later lines)."""
    return " ".join(str(error).split())[:limit] or type(error).__name__
