#pragma once
// What a pull or push tells its user, one line per blob as docker prints them:
//  - plain (not a terminal, CI): a line per event, "a1b2c3d4e5f6: Downloading 12.3MB",
//    "a1b2c3d4e5f6: Pull complete";
//  - tty: every blob's line redrawn in place with a bar, at most ten times a second.
// Thread-safe: transfers run on several threads.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

namespace strata::registry {

enum class ProgressMode { plain, tty, quiet };

class TransferProgress {
public:
    TransferProgress(std::ostream& out, ProgressMode mode) : out_(out), mode_(mode) {}
    ~TransferProgress();  // the last frame (tty)
    TransferProgress(const TransferProgress&) = delete;
    TransferProgress& operator=(const TransferProgress&) = delete;

    void message(const std::string& line);  // "Pulling from library/alpine"
    // A blob's state ("Waiting", "Downloading", "Already exists", "Pull complete"); the
    // digest names it (its first 12 hex digits are shown).
    void status(const std::string& digest, const std::string& text, std::int64_t total = -1);
    void advance(const std::string& digest, std::int64_t bytes);  // bytes moved (tty only)
    void restart(const std::string& digest);                      // the count starts again

private:
    struct Line {
        std::string id;
        std::string text;
        std::int64_t total = -1;
        std::int64_t done = 0;
    };
    using Clock = std::chrono::steady_clock;
    Line& find(const std::string& digest);  // mutex held
    void draw(bool force);                  // mutex held

    std::ostream& out_;
    ProgressMode mode_;
    std::mutex mutex_;
    std::vector<Line> lines_;
    std::size_t drawn_ = 0;
    Clock::time_point last_draw_{};
};

// 1234567 -> "1.23MB" (docker's decimal units).
std::string human_bytes(std::int64_t bytes);

} // namespace strata::registry
