// Catch2's implementation, compiled once for every test executable (it is the slowest
// file of the suite to compile); each executable's main() is in unit_main.cpp or
// priv_main.cpp, and runs the session through here (Catch::Session is declared only
// where the implementation is).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "tests/common/catch_session.hpp"

namespace strata::test {

int run_catch_session(int argc, char** argv) { return Catch::Session().run(argc, argv); }

} // namespace strata::test
