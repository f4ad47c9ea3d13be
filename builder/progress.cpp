#include "builder/progress.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace strata::builder {

namespace {

constexpr std::size_t tail_lines = 6;           // output lines a running step shows (tty)
constexpr std::size_t max_line_bytes = 16384;   // longer output lines are cut into pieces

std::string key_of(const StepRef& ref) { return ref.stage + "/" + std::to_string(ref.number); }

std::string heading(const StepRef& step) {
    return "[" + step.stage + " " + std::to_string(step.number) + "/" + std::to_string(step.total) + "] " + step.text;
}

std::string seconds(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", s);
    return buf;
}

std::string fixed3(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", s);
    return buf;
}

std::size_t terminal_width(int fd) {
    struct winsize ws {};
    if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

// Cuts to `width` bytes without splitting a UTF-8 sequence.
std::string fit(const std::string& text, std::size_t width) {
    if (text.size() <= width) return text;
    std::size_t end = width;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    return text.substr(0, end);
}

} // namespace

struct Progress::Step {
    StepRef ref;
    int id = 0;
    Status status = Status::running;
    Clock::time_point started;
    Clock::time_point ended;
    std::string error;
    std::deque<std::string> tail;  // last output lines (tty)
    Fd output_write;               // the RUN's stdout/stderr
    std::thread reader;
};

Progress::Progress(std::ostream& out, ProgressMode mode, int terminal_fd)
    : out_(out), mode_(mode), terminal_fd_(terminal_fd) {
    if (mode_ == ProgressMode::tty) ticker_ = std::thread([this] { ticker(); });
}

Progress::~Progress() {
    std::vector<Step*> open;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        for (auto* step : order_) open.push_back(step);
    }
    stop_.notify_all();
    if (ticker_.joinable()) ticker_.join();
    for (auto* step : open) {
        step->output_write.reset();
        if (step->reader.joinable()) step->reader.join();
    }
    std::lock_guard lock(mutex_);
    if (mode_ == ProgressMode::tty) redraw();
    out_ << std::flush;
}

Progress::Step& Progress::find(const StepRef& ref) {
    auto& slot = steps_[key_of(ref)];
    if (!slot) {
        slot = std::make_unique<Step>();
        slot->ref = ref;
        slot->id = static_cast<int>(order_.size()) + 1;
        slot->started = Clock::now();
        order_.push_back(slot.get());
    }
    return *slot;
}

void Progress::step_started(const StepRef& ref) {
    std::lock_guard lock(mutex_);
    Step& step = find(ref);
    if (mode_ == ProgressMode::plain) {
        out_ << "#" << step.id << " " << heading(ref) << "\n" << std::flush;
    } else if (mode_ == ProgressMode::json) {
        emit_status(step);
    } else {
        redraw();
    }
}

void Progress::step_cached(const StepRef& ref) { finish(ref, Status::cached, ""); }

void Progress::step_running(const StepRef&) {}

void Progress::step_done(const StepRef& ref) { finish(ref, Status::done, ""); }

void Progress::step_failed(const StepRef& ref, const std::string& message) { finish(ref, Status::failed, message); }

void Progress::finish(const StepRef& ref, Status status, const std::string& error) {
    std::unique_lock lock(mutex_);
    Step& step = find(ref);
    if (step.status != Status::running) return;  // a cached step also reports done
    // The output must be complete before the step's end is shown.
    step.output_write.reset();
    if (step.reader.joinable()) {
        lock.unlock();
        step.reader.join();
        lock.lock();
    }
    step.status = status;
    step.error = error;
    step.ended = Clock::now();
    if (mode_ == ProgressMode::tty) {
        redraw();
    } else {
        emit_status(step);
    }
}

void Progress::emit_status(const Step& step) {
    const double elapsed = std::chrono::duration<double>((step.status == Status::running ? Clock::now() : step.ended) - step.started).count();
    if (mode_ == ProgressMode::json) {
        static const char* names[] = {"started", "cached", "done", "error"};
        nlohmann::json event = {{"event", "step"},         {"id", step.id},
                                {"stage", step.ref.stage}, {"step", step.ref.number},
                                {"total", step.ref.total}, {"text", step.ref.text},
                                {"location", step.ref.location}, {"status", names[static_cast<int>(step.status)]}};
        if (step.status != Status::running) event["seconds"] = elapsed;
        if (!step.error.empty()) event["error"] = step.error;
        out_ << event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n" << std::flush;
        return;
    }
    switch (step.status) {
    case Status::cached: out_ << "#" << step.id << " CACHED\n"; break;
    case Status::done: out_ << "#" << step.id << " DONE " << seconds(elapsed) << "\n"; break;
    case Status::failed: out_ << "#" << step.id << " ERROR: " << step.error << "\n"; break;
    case Status::running: break;
    }
    out_ << std::flush;
}

void Progress::message(const std::string& line) {
    std::lock_guard lock(mutex_);
    if (mode_ == ProgressMode::json) {
        out_ << nlohmann::json({{"event", "message"}, {"text", line}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
             << "\n" << std::flush;
        return;
    }
    if (mode_ == ProgressMode::tty) {
        drawn_lines_ = 0;  // the line goes below the view; the view is drawn again under it
        out_ << line << "\n";
        redraw();
        return;
    }
    out_ << line << "\n" << std::flush;
}

int Progress::output_fd(const StepRef& ref) {
    std::lock_guard lock(mutex_);
    Step& step = find(ref);
    if (step.output_write) return step.output_write.get();
    Pipe pipe = make_pipe();
    step.output_write = std::move(pipe.write);
    step.reader = std::thread([this, &step, fd = std::make_shared<Fd>(std::move(pipe.read))] { read_output(step, fd->get()); });
    return step.output_write.get();
}

// Splits the stream into lines without holding more than one line (bounded) in memory.
void Progress::read_output(Step& step, int fd) {
    std::string line;
    char buf[4096];
    while (true) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; ++i) {
            if (buf[i] != '\n' && line.size() < max_line_bytes) {
                line += buf[i];
                continue;
            }
            std::lock_guard lock(mutex_);
            emit_output_line(step, line);
            line.clear();
            if (buf[i] != '\n') line += buf[i];
        }
    }
    if (!line.empty()) {
        std::lock_guard lock(mutex_);
        emit_output_line(step, line);
    }
}

void Progress::emit_output_line(Step& step, const std::string& line) {
    const double at = std::chrono::duration<double>(Clock::now() - step.started).count();
    switch (mode_) {
    case ProgressMode::plain: out_ << "#" << step.id << " " << fixed3(at) << " " << line << "\n" << std::flush; break;
    case ProgressMode::json:
        out_ << nlohmann::json({{"event", "output"}, {"id", step.id}, {"line", line}})
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
             << "\n" << std::flush;
        break;
    case ProgressMode::tty:
        step.tail.push_back(line);
        if (step.tail.size() > tail_lines) step.tail.pop_front();
        break;
    }
}

// The live view: a header, then a line per step with its timer; a running step shows its
// last output lines under it. Drawn over the previous view with cursor movement.
void Progress::redraw() {
    const std::size_t width = terminal_width(terminal_fd_);
    std::vector<std::string> lines;
    std::size_t finished = 0;
    for (const Step* step : order_)
        if (step->status != Status::running) ++finished;
    const double total = std::chrono::duration<double>(Clock::now() - start_).count();
    lines.push_back("[+] Building " + seconds(total) + " (" + std::to_string(finished) + "/" + std::to_string(order_.size()) + ")");
    for (const Step* step : order_) {
        const auto end = step->status == Status::running ? Clock::now() : step->ended;
        std::string left = " => ";
        if (step->status == Status::cached) left += "CACHED ";
        if (step->status == Status::failed) left += "ERROR ";
        left += heading(step->ref);
        const std::string timer = seconds(std::chrono::duration<double>(end - step->started).count());
        left = fit(left, width > timer.size() + 2 ? width - timer.size() - 2 : width);
        lines.push_back(left + std::string(width - left.size() - timer.size() - 1, ' ') + timer);
        if (step->status == Status::running || step->status == Status::failed)
            for (const auto& out : step->tail) lines.push_back(fit(" => => # " + out, width - 1));
    }
    std::string frame;
    if (drawn_lines_ > 0) frame += "\x1b[" + std::to_string(drawn_lines_) + "F";  // to the start of the view
    for (const auto& l : lines) frame += "\x1b[2K" + l + "\n";
    frame += "\x1b[J";  // a shorter view leaves nothing of the longer one
    drawn_lines_ = lines.size();
    out_ << frame << std::flush;
}

void Progress::ticker() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        stop_.wait_for(lock, std::chrono::milliseconds(150));
        if (!stopping_) redraw();
    }
}

} // namespace strata::builder
