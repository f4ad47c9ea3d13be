// Parse timing for a generated 10,000-line Buildfile (issue 3 asks for well under 50 ms).
// Prints the timings; asserts nothing, since timings depend on the machine.
//   ninja -C <build> strata_parser_bench && <build>/parser/strata_parser_bench [lines] [rounds]
#include "parser/buildfile.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

// A mix of what real files hold: stages, continuations, comments, ENV/LABEL pairs, exec
// forms, COPY --from, RUN --mount, heredocs.
std::string generate_buildfile(int lines) {
    std::string text = "# syntax=docker/dockerfile:1\nARG BASE=debian:12\nFROM $BASE AS build\n";
    int written = 3;
    for (int block = 0; written < lines; ++block) {
        const auto n = std::to_string(block);
        text += "# step " + n + "\n";
        text += "ENV VAR" + n + "=value" + n + " PATH=/opt/" + n + ":$PATH\n";
        text += "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get update && \\\n"
                "    apt-get install -y --no-install-recommends pkg" + n + " && \\\n"
                "    rm -rf /var/lib/apt/lists/*\n";
        text += "COPY --chown=app:app [\"src/" + n + "\", \"/app/" + n + "/\"]\n";
        text += "LABEL org.example.step=\"" + n + "\" description='block " + n + "'\n";
        text += "RUN <<EOF\nset -e\necho " + n + " > /tmp/" + n + "\nEOF\n";
        text += "WORKDIR /app/" + n + "\n\n";
        written += 15;
        if (block % 50 == 49) {
            text += "FROM debian:12 AS stage" + n + "\nCOPY --from=build /app /app\n";
            written += 2;
        }
    }
    text += "CMD [\"/app/run\", \"--serve\"]\n";
    return text;
}

} // namespace

int main(int argc, char** argv) {
    const int lines = argc > 1 ? std::atoi(argv[1]) : 10000;
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 20;
    const std::string text = generate_buildfile(lines);
    std::vector<double> millis;
    std::size_t steps = 0;
    for (int round = 0; round < rounds; ++round) {
        const auto start = std::chrono::steady_clock::now();
        const auto dag = strata::parser::parse_buildfile(text, {});
        const auto stop = std::chrono::steady_clock::now();
        millis.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
        steps = 0;
        for (const auto& stage : dag.stages) steps += stage.steps.size();
    }
    std::sort(millis.begin(), millis.end());
    std::printf("parse_buildfile: %d lines, %zu bytes, %zu steps: median %.2f ms, min %.2f ms, max %.2f ms (%d rounds)\n",
                lines, text.size(), steps, millis[millis.size() / 2], millis.front(), millis.back(), rounds);
    return 0;
}
