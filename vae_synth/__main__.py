from vae_synth.cli import main

raise SystemExit(main())
