#pragma once
// PEGTL 3.2 rules for the *line level* of a Buildfile, nothing else: which physical lines
// form an instruction, where its keyword is, and which lines are comments or blank.
// Argument parsing per instruction happens afterwards on the joined line (node.cpp),
// as BuildKit's parser does. Actions live in node.cpp.
//
// The rules that involve the escape character are templates on it, because a
// `# escape=` directive switches it for the rest of the file.
#include <tao/pegtl.hpp>
#include <tao/pegtl/contrib/analyze_traits.hpp>

namespace strata::parser::grammar {

using namespace tao::pegtl;

// White space inside a line (BuildKit splits on [\t\v\f\r ]).
struct ws : one<' ', '\t', '\v', '\f', '\r'> {};
struct line_end : sor<one<'\n'>, eof> {};
struct rest_of_line : star<not_one<'\n'>> {};

// ---- parser directives: only in the leading run of `#key=value` lines -------------
struct directive_key : sor<istring<'s', 'y', 'n', 't', 'a', 'x'>,
                           istring<'e', 's', 'c', 'a', 'p', 'e'>,
                           istring<'c', 'h', 'e', 'c', 'k'>> {};
struct directive_value : plus<not_one<'\n'>> {};
struct directive_line
    : seq<one<'#'>, star<ws>, directive_key, star<ws>, one<'='>, star<ws>, directive_value, line_end> {};
struct directives : star<directive_line> {};

// ---- lines that carry no instruction ------------------------------------------------
struct blank_line : seq<star<ws>, one<'\n'>> {};
struct trailing_blanks : seq<plus<ws>, eof> {};
struct comment_line : seq<star<ws>, one<'#'>, rest_of_line, line_end> {};
struct skipped_line : sor<comment_line, blank_line> {};

// ---- instructions, possibly continued over several physical lines -------------------
// A line continues when it ends in one escape character (not two) plus blanks.
template <char E>
struct continuation : seq<one<E>, star<one<' ', '\t'>>, star<one<'\r'>>, line_end> {};

// Text of one physical line up to (not including) a continuation or the newline.
// A run of two or more escape characters is plain text: `a\\` does not continue.
// Runs of ordinary characters are taken in one piece (speed on huge lines).
template <char E>
struct body_piece
    : sor<plus<not_one<'\n', E>>, seq<one<E>, plus<one<E>>>, seq<not_at<continuation<E>>, not_one<'\n'>>> {};
template <char E>
struct line_body : star<body_piece<E>> {};

template <char E>
struct keyword : plus<not_at<continuation<E>>, not_one<' ', '\t', '\v', '\f', '\r', '\n'>> {};

// After a continuation, comment lines and blank lines are skipped.
template <char E>
struct continued_line : seq<continuation<E>, star<skipped_line>, line_body<E>> {};

template <char E>
struct instruction : seq<star<ws>, keyword<E>, line_body<E>, star<continued_line<E>>, line_end> {};

// Anything else (a line made of only a continuation): reported as an error by its action.
struct stray_text : plus<not_one<'\n'>> {};
struct stray_line : seq<star<ws>, stray_text, opt<one<'\n'>>> {};

// The bodies of the heredocs an instruction just opened (RUN <<EOF): the physical lines
// up to each terminator. Which heredocs are open is only known once the instruction's
// action has run, so this rule asks the parse state; it consumes nothing when none are.
struct heredoc_bodies {
    using rule_t = heredoc_bodies;
    using subs_t = type_list<>;

    template <apply_mode A, rewind_mode M, template <typename...> class Action,
              template <typename...> class Control, typename ParseInput, typename State>
    static bool match(ParseInput& in, State& state) {
        state.read_heredoc_bodies(in);
        return true;
    }
};

template <char E>
struct item : sor<blank_line, trailing_blanks, comment_line, seq<instruction<E>, heredoc_bodies>, stray_line> {};

template <char E>
struct body : seq<star<item<E>>, eof> {};

} // namespace strata::parser::grammar

namespace tao::pegtl {
// For analyze(): heredoc_bodies may succeed without consuming input.
template <typename Name>
struct analyze_traits<Name, strata::parser::grammar::heredoc_bodies> : analyze_opt_traits<> {};
} // namespace tao::pegtl
