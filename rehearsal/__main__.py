from rehearsal.launch import main

main()
