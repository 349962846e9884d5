from forms.cli import main

raise SystemExit(main())
