// The store unit tests' helpers (tar building and reading), shared with this executable.
#include "../store/helpers.cpp"
