#include "tests/common/catch_session.hpp"

int main(int argc, char** argv) { return strata::test::run_catch_session(argc, argv); }
