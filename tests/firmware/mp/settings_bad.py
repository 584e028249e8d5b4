# Under MicroPython: settings files as flash might hold them, good and bad; then the board's
# start loop with no usable settings (it must retry with a fault signal, never crash or reboot).
import json
import sys

from common import emit
from halte import board
from halte import settings as settings_file

for name, text in json.loads(sys.argv[1]):
    try:
        s = settings_file.parse(text.encode())
        emit({"case": name, "code": "ok", "station": s.station, "keys": len(s.keys)})
    except settings_file.SettingsError as exc:
        emit({"case": name, "code": exc.code})

sleeps = []


class Stop(Exception):
    pass


def sleep_ms(ms):
    sleeps.append(ms)
    if len(sleeps) >= 3:
        raise Stop


board.time.sleep_ms = sleep_ms
try:
    board.run()
except Stop:
    pass
emit({"case": "board without settings", "retries": len(sleeps), "sleep_ms": sleeps})
