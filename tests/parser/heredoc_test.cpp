// Heredocs for RUN, COPY and ADD with BuildKit's semantics, parser directives at the top,
// CRLF files and a byte-order mark.
#include "parser/buildfile.hpp"
#include "parser/node.hpp"

#include <catch2/catch.hpp>

namespace heredoc_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::parser;

namespace {

Ast parse(std::string_view text) { return parse_ast(text, "Buildfile"); }

std::string error_of(std::string_view text) {
    try {
        parse_buildfile(text, {});
    } catch (const strata::Error& e) {
        return e.what();
    }
    FAIL("expected an error for: " << text);
    return {};
}

const Heredoc& only_heredoc(const Node& node) {
    REQUIRE(node.heredocs.size() == 1);
    return node.heredocs.front();
}

} // namespace

TEST_CASE("heredoc bodies are read up to their terminator", "[heredoc]") {
    const auto ast = parse("FROM a\nRUN <<EOF\necho hi\n  # not a comment\n\nEOF\nRUN ls\n");
    REQUIRE(ast.root.children.size() == 3);
    const auto& run = ast.root.children[1];
    const auto& heredoc = only_heredoc(run);
    CHECK(heredoc.name == "EOF");
    CHECK(heredoc.content == "echo hi\n  # not a comment\n\n");
    CHECK(heredoc.expand);
    CHECK_FALSE(heredoc.chomp);
    CHECK(heredoc.fd == 0);
    CHECK(run.start_line == 2);
    CHECK(run.end_line == 6);
    CHECK(ast.root.children[2].start_line == 7);
    CHECK(dump(ast.root) == "(from \"a\")\n(run \"<<EOF\")\n(run \"ls\")");  // bodies are not dumped
}

TEST_CASE("heredoc delimiters: quotes, chomp, file descriptors", "[heredoc]") {
    struct Case {
        std::string line;
        std::string name;
        bool expand;
        bool chomp;
        int fd;
    };
    const std::vector<Case> cases = {
        {"RUN <<-UNINDENT", "UNINDENT", true, true, 0},  {"RUN <<'NOEXPAND'", "NOEXPAND", false, false, 0},
        {"RUN <<\"Q\"", "Q", false, false, 0},           {"RUN <<eo'f'", "eof", false, false, 0},
        {"RUN <<eo\\'f", "eo'f", true, false, 0},         {"RUN <<'e'o\\'f", "eo'f", false, false, 0},
        {"RUN <<'one two'", "one two", false, false, 0}, {"RUN <<$EOF", "$EOF", true, false, 0},
        {"RUN <<  EOF", "EOF", true, false, 0},          {"RUN <<  EOF  > foo", "EOF", true, false, 0},
        {"RUN 3<<EMPTY2", "EMPTY2", true, false, 3},     {"RUN << -EOF", "-EOF", true, false, 0},
        {"RUN --mount=type=cache,target=/foo <<MOUNT", "MOUNT", true, false, 0},
        {"RUN <<COMPLEX python3", "COMPLEX", true, false, 0},
    };
    for (const auto& c : cases) {
        INFO(c.line);
        const auto ast = parse("FROM a\n" + c.line + "\n" + c.name + "\n");
        const auto& heredoc = only_heredoc(ast.root.children.at(1));
        CHECK(heredoc.name == c.name);
        CHECK(heredoc.expand == c.expand);
        CHECK(heredoc.chomp == c.chomp);
        CHECK(heredoc.fd == c.fd);
        CHECK(heredoc.content.empty());
    }
}

TEST_CASE("<<- ignores leading tabs on the terminator and data() strips them", "[heredoc]") {
    const auto ast = parse("FROM a\nRUN <<-EOF\n\tbaz\n\t\tquux\n\tEOF\nRUN <<EOF\n\tx\n\tEOF\nEOF\n");
    const auto& chomped = only_heredoc(ast.root.children[1]);
    CHECK(chomped.content == "\tbaz\n\t\tquux\n");  // kept as written, as BuildKit keeps it
    CHECK(chomped.data() == "baz\nquux\n");
    const auto& plain = only_heredoc(ast.root.children[2]);
    CHECK(plain.content == "\tx\n\tEOF\n");  // without `-` a tab-indented terminator is content
    CHECK(plain.data() == plain.content);
}

TEST_CASE("several heredocs on one line are read in order", "[heredoc]") {
    const auto ast = parse("FROM a\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n");
    const auto& copy = ast.root.children[1];
    REQUIRE(copy.heredocs.size() == 2);
    CHECK(copy.heredocs[0].name == "X");
    CHECK(copy.heredocs[0].content == "Y\n");
    CHECK(copy.heredocs[1].name == "Y");
    CHECK(copy.heredocs[1].content == "X\n");
    CHECK(copy.end_line == 6);
}

TEST_CASE("no heredoc in JSON form, in quotes, or for other instructions", "[heredoc]") {
    const auto ast = parse("FROM a\nRUN [\"<<EOF\"]\nRUN \"<<EOF\"\nRUN '<<EOF'\nUSER <<INVALID\nINVALID\n"
                           "RUN echo <<\nRUN cat <<EOF sh\nEOF\n");
    const auto& nodes = ast.root.children;
    REQUIRE(nodes.size() == 8);
    for (std::size_t i = 1; i <= 5; ++i) {
        INFO(nodes[i].original);
        CHECK(nodes[i].heredocs.empty());
    }
    CHECK(nodes[6].original == "RUN echo <<");
    CHECK(only_heredoc(nodes[7]).name == "EOF");  // "<<EOF" and "sh" are separate words
}

TEST_CASE("heredoc errors", "[heredoc]") {
    CHECK(error_of("FROM a\nRUN <<EOF\necho\n") == "Buildfile:2:1: unterminated heredoc <<EOF\nRUN <<EOF\n^");
    // Unbalanced quotes on the line: BuildKit's lexer fails and the line opens no heredoc.
    CHECK_THAT(error_of("FROM a\nRUN <<EOF'\nx\n"), Catch::Contains("Buildfile:3:1: unknown instruction: X"));
    CHECK_THAT(error_of("FROM a\nCOPY x <<EOF\nEOF\n"), Catch::Contains("COPY cannot accept a heredoc as a destination"));
    CHECK(heredoc_word("<<EOF sh") == std::nullopt);
    CHECK(heredoc_word("<<") == std::nullopt);
    CHECK(heredoc_word("<<<EOF") == std::nullopt);
    CHECK(heredoc_word("<EOF") == std::nullopt);
    CHECK_THROWS(heredoc_word("<<\"EOF"));
    CHECK(heredoc_word("<<- EOF")->name == "EOF");
}

TEST_CASE("heredocs under ONBUILD and in CRLF files", "[heredoc]") {
    const auto ast = parse("FROM a\r\nONBUILD RUN <<EOF\r\necho hi\r\nEOF\r\nRUN ls\r\n");
    REQUIRE(ast.root.children.size() == 3);
    const auto& heredoc = only_heredoc(ast.root.children[1]);
    CHECK(heredoc.content == "echo hi\r\n");  // bodies are kept byte for byte, as BuildKit does
    const auto dag = parse_buildfile("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n", {});
    const auto& onbuild = dag.stages.at(0).steps.at(0);
    CHECK(onbuild.onbuild_expression == "RUN <<EOF\necho hi\nEOF");
    CHECK(onbuild.onbuild.at(0).heredocs.at(0).content == "echo hi\n");
}

TEST_CASE("typed RUN folds heredocs into the shell command as BuildKit's dispatcher does", "[heredoc]") {
    const auto dag = parse_buildfile("FROM a\nRUN <<EOF\necho one\necho two\nEOF\n"
                                     "RUN cat <<A > /a && cat <<-B > /b\nalpha\nA\n\tbeta\n\tB\n"
                                     "RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n",
                                     {});
    const auto& steps = dag.stages.at(0).steps;
    REQUIRE(steps.size() == 3);
    CHECK(steps[0].shell_form);
    CHECK(steps[0].command == std::vector<std::string>{"echo one\necho two\n"});
    CHECK(steps[0].original == "RUN <<EOF");
    CHECK(steps[1].command == std::vector<std::string>{"cat <<A > /a && cat <<-B > /b\nalpha\nA\n\tbeta\nB"});
    // A script with a shebang is left for the builder to write out and execute.
    CHECK(steps[2].command == std::vector<std::string>{"<<EOF"});
    CHECK(steps[2].heredocs.at(0).content == "#!/usr/bin/env python3\nprint(1)\n");
}

TEST_CASE("typed COPY and ADD keep heredoc sources", "[heredoc]") {
    const auto dag = parse_buildfile("FROM a\nCOPY <<-'CONF' other.txt /etc/\n\tkey=$VALUE\nCONF\n"
                                     "ADD <<EOF /x\nhello\nEOF\n",
                                     {});
    const auto& copy = dag.stages.at(0).steps.at(0);
    CHECK(copy.sources == std::vector<std::string>{"<<-'CONF'", "other.txt"});
    REQUIRE(copy.heredocs.size() == 1);
    CHECK(heredoc_word(copy.sources[0])->name == copy.heredocs[0].name);
    CHECK_FALSE(copy.heredocs[0].expand);
    CHECK(copy.heredocs[0].data() == "key=$VALUE\n");
    CHECK(dag.stages.at(0).steps.at(1).heredocs.at(0).content == "hello\n");
}

TEST_CASE("# syntax decides whether heredocs are read", "[heredoc][directives]") {
    const std::string body = "FROM a\nRUN <<EOF\nEOF\n";
    CHECK(parse(body).root.children.size() == 2);
    CHECK(parse("# syntax=docker/dockerfile:1\n" + body).root.children.size() == 2);
    CHECK(parse("# syntax=docker/dockerfile:1.4\n" + body).root.children.size() == 2);
    CHECK(parse("# syntax=docker/dockerfile:1.3-labs\n" + body).root.children.size() == 2);
    CHECK(parse("# syntax=docker.io/docker/dockerfile:1.10\n" + body).root.children.size() == 2);
    // An old frontend reads the body lines as instructions.
    const auto old = parse("# syntax=docker/dockerfile:1.2\n" + body);
    REQUIRE(old.root.children.size() == 3);
    CHECK(old.root.children[1].heredocs.empty());
    CHECK(old.root.children[2].value == "EOF");
    CHECK_FALSE(syntax_supports_heredocs("docker/dockerfile:1.3.1"));
    CHECK(syntax_supports_heredocs("example.com/my/frontend:1.0"));
}

TEST_CASE("directives are recorded, only at the top", "[directives]") {
    const auto ast = parse("# syntax = docker/dockerfile:1.7\n#check=skip=all\n# escape=`\nFROM a\n");
    CHECK(ast.directives == std::map<std::string, std::string>{
                                {"syntax", "docker/dockerfile:1.7"}, {"check", "skip=all"}, {"escape", "`"}});
    CHECK(ast.escape == '`');
    CHECK(parse("\n# syntax=x\nFROM a\n").directives.empty());
    CHECK(parse("# hello\n# escape=`\nFROM a\n").escape == '\\');
    CHECK(parse("FROM a\n# escape=`\n").directives.empty());
    const auto dag = parse_buildfile("# check=error=true\nFROM a\n", {});
    CHECK(dag.directives.at("check") == "error=true");
    CHECK_THAT(error_of("# check=a\n# check=b\nFROM a\n"), Catch::Contains("Buildfile:2:1: only one check parser directive"));
}

TEST_CASE("CRLF files and a byte-order mark", "[directives]") {
    const auto crlf = parse("\xEF\xBB\xBF# escape=`\r\nFROM a\r\nRUN echo a `\r\n  b\r\nENV K=V\r\n");
    CHECK(crlf.escape == '`');
    REQUIRE(crlf.root.children.size() == 3);
    CHECK(dump(crlf.root) == "(from \"a\")\n(run \"echo a   b\")\n(env \"K\" \"V\" \"=\")");
    CHECK(crlf.root.children[0].start_line == 2);
    CHECK(crlf.root.children[1].end_line == 4);
    const auto bom = parse("\xEF\xBB\xBF" "FROM a\n");
    CHECK(bom.root.children.at(0).value == "FROM");
    CHECK(bom.root.children.at(0).column == 1);
    CHECK(error_of("\xEF\xBB\xBF" "FOO\n") == "Buildfile:1:1: unknown instruction: FOO\nFOO\n^");
}

TEST_CASE("escapes inside a double-quoted delimiter", "[heredoc]") {
    CHECK(heredoc_word("<<\"E\\\"F\"")->name == "E\"F");
    CHECK(heredoc_word("<<\"E\\`F\"")->name == "E\\`F");  // BuildKit's lexer keeps \ before a backtick
    CHECK(heredoc_word("<<'E\\F'")->name == "E\\F");      // single quotes take everything literally
    CHECK_FALSE(heredoc_word("<<\"E\\\"F\"")->expand);
}

} // namespace heredoc_test
