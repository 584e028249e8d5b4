from presensi.cli import main

main()
