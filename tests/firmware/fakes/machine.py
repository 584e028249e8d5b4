# A fake `machine` module for running the firmware under the MicroPython wasm port: pins that
# remember their values, a PWM that remembers its duty, a UART fed by the test.


class Pin:
    OUT = 1
    IN = 0

    def __init__(self, pin, mode=-1):
        self.pin = pin
        self._value = 0
        self.history = []

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = 1 if v else 0
        self.history.append(self._value)
        return None


class PWM:
    def __init__(self, pin):
        self.pin = pin
        self.duty = 0
        self.history = []

    def freq(self, hz=None):
        return 2700

    def duty_u16(self, d=None):
        if d is None:
            return self.duty
        self.duty = d
        self.history.append(d)
        return None


class UART:
    def __init__(self, *args, **kwargs):
        self.incoming = bytearray()

    def feed(self, data):
        self.incoming += data

    def any(self):
        return len(self.incoming)

    def read(self, n=-1):
        if not self.incoming:
            return None
        n = len(self.incoming) if n is None or n < 0 else n
        data = bytes(self.incoming[:n])
        self.incoming = self.incoming[n:]
        return data
