#include "builder/progress.hpp"

namespace strata::builder {

namespace {
std::string heading(const StepRef& step) {
    return "[" + step.stage + " " + std::to_string(step.number) + "/" + std::to_string(step.total) + "] " + step.text;
}
} // namespace

void Progress::step_started(const StepRef& step) {
    std::lock_guard lock(mutex_);
    out_ << heading(step) << "\n" << std::flush;
}

void Progress::step_cached(const StepRef&) {
    std::lock_guard lock(mutex_);
    out_ << "  CACHED\n" << std::flush;
}

void Progress::step_running(const StepRef&) {}

void Progress::step_done(const StepRef&) {}

void Progress::step_failed(const StepRef&, const std::string&) {}

void Progress::message(const std::string& line) {
    std::lock_guard lock(mutex_);
    out_ << line << "\n" << std::flush;
}

int Progress::output_fd(const StepRef&) { return run_output_fd_; }

} // namespace strata::builder
