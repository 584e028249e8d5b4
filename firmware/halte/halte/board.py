"""The board: pins, UART, Wi-Fi and NTP around the Station; the loop that never reboots.

Pins and the UART come from settings.json (`pins`), defaults for a Pico 2 W: UART0 TX GP0 /
RX GP1 at 9600 baud to the scanner module, green LED GP14, red LED GP15, buzzer GP16 (PWM).
Without usable settings the station shows the fault signal every few seconds and reads the
file again (an installer can re-provision over USB); an unexpected error in the loop is counted
and the loop goes on: no reboot loop, whatever the input.
"""

import time

import machine
import network

from halte import settings as settings_file
from halte.clock import Clock, Ticks
from halte.flash import Flash
from halte.indicator import Indicator
from halte.journal import Journal
from halte.net import Transport
from halte.scanner import Scanner
from halte.station import Station
from halte.uplink import Uplink

JOURNAL_DIR = "/journal"
FLEET_DIR = "/fleet"


def indicator(pins: dict[str, int]) -> Indicator:
    buzzer = machine.PWM(machine.Pin(pins.get("buzzer", 16)))
    buzzer.freq(2700)
    return Indicator(
        machine.Pin(pins.get("green", 14), machine.Pin.OUT),
        machine.Pin(pins.get("red", 15), machine.Pin.OUT),
        buzzer,
    )


class Wifi:
    """Joins the network in the background; syncs the clock by NTP once it is up."""

    def __init__(self, ssid: str, password: str, clock: Clock) -> None:
        self.wlan = network.WLAN(network.STA_IF)
        self.ssid, self.password, self.clock = ssid, password, clock
        self.next_try_ms = 0

    def step(self, now_ms: int) -> None:
        if not self.wlan.isconnected():
            if now_ms >= self.next_try_ms:
                self.wlan.active(True)
                self.wlan.connect(self.ssid, self.password)
                self.next_try_ms = now_ms + 15_000
            return
        if self.clock.needs_sync() and now_ms >= self.next_try_ms:
            self.next_try_ms = now_ms + 60_000
            try:
                import ntptime

                ntptime.settime()
                self.clock.synced_now()
            except (OSError, OverflowError):
                self.clock.sync_failures += 1

    def rssi(self) -> int | None:
        try:
            return int(self.wlan.status("rssi"))
        except (OSError, ValueError, TypeError):
            return None

    def up(self) -> bool:
        return bool(self.wlan.isconnected())


def start(ticks: Ticks) -> tuple[Station, Wifi]:
    s = settings_file.load()
    pins = s.pins
    uart = machine.UART(
        pins.get("uart", 0),
        baudrate=pins.get("baud", 9600),
        tx=machine.Pin(pins.get("tx", 0)),
        rx=machine.Pin(pins.get("rx", 1)),
        rxbuf=1024,
        timeout=0,
    )
    clock = Clock(ticks)
    flash = Flash(JOURNAL_DIR)
    journal = Journal(flash, s.station, **s.journal)
    wifi = Wifi(s.wifi.get("ssid", ""), s.wifi.get("password", ""), clock)
    uplink = Uplink(s.station, s.broker, journal, s.key, Transport, clock.boot_id, **s.uplink)
    station = Station(
        s,
        journal,
        Scanner(uart, ticks),
        indicator(pins),
        clock,
        uplink,
        flash.free_bytes,
        wifi.rssi,
    )
    return station, wifi


def run() -> None:
    ticks = Ticks()
    while True:
        try:
            station, wifi = start(ticks)
        except Exception as exc:  # noqa: BLE001 - bad settings, flash, pins: wait, never reboot
            print("fault:", exc)
            try:
                indicator({}).show("fault", ticks.ms())
            except (OSError, ValueError):
                pass
            time.sleep_ms(5000)
            continue
        station.indicator.show("ready", ticks.ms())
        loop(station, wifi, ticks)


def loop(station: Station, wifi: Wifi, ticks: Ticks) -> None:
    while True:
        try:
            station.step()
            wifi.step(ticks.ms())
        except Exception as exc:  # noqa: BLE001 - the loop must survive anything
            station.fault("loop_error")
            print("loop_error:", exc)
            try:
                station.indicator.show("fault", ticks.ms())  # a scan may be lost: never silent
            except Exception:  # noqa: BLE001, S110 - the indicator itself is broken
                pass
        time.sleep_ms(2)
