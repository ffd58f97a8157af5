from lepton.cli import main

main()
