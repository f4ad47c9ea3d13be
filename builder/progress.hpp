#pragma once
// What a build tells its user while it runs: one event per step start, cache hit, run,
// finish or failure, plus RUN output attributed to its step. Stages may run concurrently,
// so every method is thread-safe.
#include <cstddef>
#include <mutex>
#include <ostream>
#include <string>

namespace strata::builder {

enum class ProgressMode { plain, tty, json };

// One step as the user reads it: "[build 3/7] RUN make".
struct StepRef {
    std::string stage;     // stage name, or "stage-N"
    std::size_t number = 0;  // 1 is the FROM
    std::size_t total = 0;
    std::string text;      // the instruction as written
    std::string location;  // file:line:col
};

class Progress {
public:
    Progress(std::ostream& out, ProgressMode mode, int run_output_fd) : out_(out), mode_(mode), run_output_fd_(run_output_fd) {}

    void step_started(const StepRef& step);
    void step_cached(const StepRef& step);
    void step_running(const StepRef& step);  // a cache miss: the step is executed now
    void step_done(const StepRef& step);
    void step_failed(const StepRef& step, const std::string& message);
    void message(const std::string& line);  // build-level lines: "naming to ...", explanations

    // Where a RUN step's stdout and stderr go while it runs.
    int output_fd(const StepRef& step);

private:
    std::ostream& out_;
    ProgressMode mode_;
    int run_output_fd_;
    std::mutex mutex_;
};

} // namespace strata::builder
