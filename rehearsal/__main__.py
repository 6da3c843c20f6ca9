from rehearsal.cli.launch import main

main()
