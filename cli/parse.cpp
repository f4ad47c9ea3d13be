// `strata parse`: print a Buildfile's syntax tree, in BuildKit's dump format (what its
// parser tests compare against) or as JSON with source positions. Like BuildKit's parser,
// it checks only the line level unless --check asks for the instruction level too.
#include "cli/commands.hpp"
#include "parser/buildfile.hpp"
#include "parser/node.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <iostream>
#include <iterator>
#include <memory>

namespace strata::cli {

namespace {

struct ParseFlags {
    std::string file;
    std::string format = "dump";
    bool check = false;
};

// -f given ("-" = stdin), else ./Buildfile, else ./Dockerfile.
std::pair<std::string, std::string> read_input(const std::string& file) {
    if (file == "-") return {std::string(std::istreambuf_iterator<char>(std::cin), {}), "<stdin>"};
    fs::path path = file;
    if (path.empty()) path = fs::exists("Buildfile") || !fs::exists("Dockerfile") ? "Buildfile" : "Dockerfile";
    return {read_file(path), path.string()};
}

void run_parse(const ParseFlags& flags) {
    const auto [text, name] = read_input(flags.file);
    const auto ast = parser::parse_ast(text, name);
    if (flags.check) {
        parser::ParseOptions options;
        options.filename = name;
        (void)parser::parse_buildfile(text, options);  // throws what a build would reject
    }
    if (flags.format == "json") {
        std::cout << parser::ast_json(ast);
    } else {
        std::cout << parser::dump(ast.root) << "\n";
    }
}

} // namespace

void add_parse_command(CLI::App& app, GlobalOptions&) {
    auto flags = std::make_shared<ParseFlags>();
    auto* cmd = app.add_subcommand("parse", "Parse a Buildfile and print its syntax tree");
    cmd->add_option("-f,--file", flags->file, "Buildfile path ('-' for stdin); default ./Buildfile, then ./Dockerfile");
    cmd->add_option("--format", flags->format, "dump (BuildKit's parser test format) or json (AST with positions)")
        ->check(CLI::IsMember({"dump", "json"}))
        ->capture_default_str();
    cmd->add_flag("--check", flags->check,
                  "Also check instructions, flags and stages as a build does (unknown instructions, bad flag values)");
    cmd->callback([flags] { run_parse(*flags); });
}

} // namespace strata::cli
