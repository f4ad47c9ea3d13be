#pragma once
// What a build tells its user while it runs: one event per step start, cache hit, finish
// or failure, plus RUN output attributed to its step. Stages run concurrently, so every
// method is thread-safe. Three renderings, as BuildKit has:
//  - plain: one line per event, "#3 [build 2/5] RUN make", output as "#3 0.512 text";
//  - tty:   a live view redrawn in place, a timer per step, the running steps' last lines;
//  - json:  one JSON object per line per event, for tools.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace strata::builder {

enum class ProgressMode { plain, tty, json };

// One step as the user reads it: "[build 3/7] RUN make".
struct StepRef {
    std::string stage;       // stage name, or "stage-N"
    std::size_t number = 0;  // 1 is the FROM
    std::size_t total = 0;
    std::string text;      // the instruction as written
    std::string location;  // file:line:col
};

class Progress {
public:
    // `run_output_fd` is where a terminal is asked for its width (tty mode).
    Progress(std::ostream& out, ProgressMode mode, int terminal_fd = 2);
    ~Progress();  // draws the final view (tty) and stops the output readers
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    void step_started(const StepRef& step);
    void step_cached(const StepRef& step);
    void step_running(const StepRef& step);  // a cache miss: the step is executed now
    void step_done(const StepRef& step);
    void step_failed(const StepRef& step, const std::string& message);
    void message(const std::string& line);  // build-level lines: "naming to ...", explanations

    // A pipe whose lines are shown as the step's output; valid until step_done/step_failed.
    int output_fd(const StepRef& step);

private:
    using Clock = std::chrono::steady_clock;
    enum class Status { running, cached, done, failed };
    struct Step;

    Step& find(const StepRef& ref);  // mutex held
    void finish(const StepRef& ref, Status status, const std::string& error);
    void read_output(Step& step, int fd);
    void emit_output_line(Step& step, const std::string& line);  // mutex held
    void emit_status(const Step& step);                          // mutex held
    void redraw();                                               // mutex held, tty mode
    void ticker();

    std::ostream& out_;
    ProgressMode mode_;
    int terminal_fd_;
    Clock::time_point start_ = Clock::now();
    std::mutex mutex_;
    std::map<std::string, std::unique_ptr<Step>> steps_;  // by "stage/number"
    std::vector<Step*> order_;                            // as started
    std::size_t drawn_lines_ = 0;
    bool stopping_ = false;
    std::condition_variable stop_;
    std::thread ticker_;
};

} // namespace strata::builder
