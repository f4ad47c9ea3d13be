// libFuzzer target for the whole parser: line grammar, heredocs, flags, typed instructions,
// the DAG and both printers. Any exception other than strata::Error, any sanitizer report,
// any crash or hang is a finding. Built with clang by parser/CMakeLists.txt and run for a
// bounded time by tests/parser/fuzz_test.cpp; by hand:
//   <build>/parser/strata_parser_fuzzer -dict=parser/fuzz/dockerfile.dict CORPUS_DIR
#include "parser/buildfile.hpp"
#include "parser/node.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const auto ast = strata::parser::parse_ast(text, "Buildfile");
        (void)strata::parser::dump(ast.root);
        (void)strata::parser::ast_json(ast);
    } catch (const strata::Error&) {
    }
    try {
        strata::parser::ParseOptions options;
        options.build_args = {{"A", "x"}};
        (void)strata::parser::parse_buildfile(text, options);
    } catch (const strata::Error&) {
    }
    return 0;
}
