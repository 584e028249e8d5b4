"""One error root for the hardware boundary; members also inherit the matching builtin."""


class HardwareError(Exception):
    """A device is missing, failed, or was configured wrongly."""


class CameraError(HardwareError, OSError):
    """The camera cannot be opened or stopped delivering frames."""


class DecoderError(HardwareError, RuntimeError):
    """A QR decoder backend is unavailable or failed on a frame."""


class FrameError(DecoderError, ValueError):
    """A frame that cannot be read as an image (wrong type, dimensions or channels)."""


class ScannerError(HardwareError, OSError):
    """A serial QR scanner module cannot be opened or went away."""


class IndicatorError(HardwareError, OSError):
    """The LEDs or buzzer cannot be driven."""


class BackendNotFound(HardwareError, LookupError):
    """A configured backend name is not one we have."""


class SerialPortError(HardwareError, OSError):
    """A serial port (scanner module, provisioning cable) cannot be opened; the message says why."""
