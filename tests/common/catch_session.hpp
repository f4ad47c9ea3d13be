#pragma once

namespace strata::test {

// Runs the Catch2 session on the command line (catch_impl.cpp).
int run_catch_session(int argc, char** argv);

} // namespace strata::test
