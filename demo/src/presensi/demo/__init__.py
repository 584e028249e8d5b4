"""The zero-setup demo, the simulated fleet the hub bench drives, and throwaway Mosquitto and
PostgreSQL servers for the tests and benches. Shipped only in the `presensi` meta-distribution
(never on a station, a hub server or an admin laptop)."""
