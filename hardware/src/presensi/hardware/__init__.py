"""The hardware boundary: cameras, QR decoders, serial scanner modules, LEDs and buzzer.

Each interface is small (a camera yields frames, a decoder turns a frame into texts, an indicator
shows a named signal) and each backend lives in a file of its own, imported only when chosen.
"""
