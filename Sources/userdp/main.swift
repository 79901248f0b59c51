// Entry point. Kernel selection for OpenBLAS must happen before the library loads, so
// this file will gain a re-exec step (issue: foundation) ahead of argument parsing.
UserDP.main()
