"""Boot entry of the halte scan head (MicroPython runs main.py after boot.py)."""

from halte import board

board.run()
