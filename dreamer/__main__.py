from dreamer.cli import main

raise SystemExit(main())
