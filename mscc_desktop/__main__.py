from mscc_desktop.cli import main

raise SystemExit(main())
