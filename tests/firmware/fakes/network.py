# A fake `network` module: a WLAN the test turns on and off.
STA_IF = 0
_up = [False]


def set_up(up):
    _up[0] = bool(up)


class WLAN:
    def __init__(self, interface=STA_IF):
        pass

    def active(self, on=None):
        return True

    def connect(self, ssid, password):
        pass

    def isconnected(self):
        return _up[0]

    def status(self, what=None):
        return -61 if what == "rssi" else 3
