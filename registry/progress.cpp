#include "registry/progress.hpp"

#include <cstdio>

namespace strata::registry {

namespace {

std::string short_id(const std::string& digest) {
    const auto colon = digest.find(':');
    return digest.substr(colon == std::string::npos ? 0 : colon + 1, 12);
}

std::string bar(std::int64_t done, std::int64_t total) {
    constexpr int width = 40;
    const int filled = total > 0 ? static_cast<int>(std::min<std::int64_t>(done, total) * width / total) : 0;
    std::string out = "[";
    for (int i = 0; i < width; ++i) out += i < filled ? '=' : (i == filled ? '>' : ' ');
    return out + "]";
}

} // namespace

std::string human_bytes(std::int64_t bytes) {
    static const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1000 && unit < 4) {
        value /= 1000;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f%s" : "%.3g%s", value, units[unit]);
    return text;
}

TransferProgress::~TransferProgress() {
    const std::lock_guard lock(mutex_);
    if (mode_ == ProgressMode::tty) draw(true);
}

void TransferProgress::message(const std::string& line) {
    const std::lock_guard lock(mutex_);
    if (mode_ == ProgressMode::quiet) return;
    if (mode_ == ProgressMode::tty) {
        // Above the live lines: they are drawn again below it.
        if (drawn_ > 0) out_ << "\x1b[" << drawn_ << "F\x1b[J";
        drawn_ = 0;
        out_ << line << "\n";
        draw(true);
        return;
    }
    out_ << line << "\n" << std::flush;
}

TransferProgress::Line& TransferProgress::find(const std::string& digest) {
    const std::string id = short_id(digest);
    for (auto& line : lines_) {
        if (line.id == id) return line;
    }
    lines_.push_back({id, "", -1, 0});
    return lines_.back();
}

void TransferProgress::status(const std::string& digest, const std::string& text, std::int64_t total) {
    const std::lock_guard lock(mutex_);
    if (mode_ == ProgressMode::quiet) return;
    Line& line = find(digest);
    line.text = text;
    if (total >= 0) line.total = total;
    if (mode_ == ProgressMode::plain) {
        out_ << line.id << ": " << text << (total > 0 ? " " + human_bytes(total) : "") << "\n" << std::flush;
        return;
    }
    draw(true);
}

void TransferProgress::advance(const std::string& digest, std::int64_t bytes) {
    if (mode_ != ProgressMode::tty) return;
    const std::lock_guard lock(mutex_);
    find(digest).done += bytes;
    draw(false);
}

void TransferProgress::restart(const std::string& digest) {
    const std::lock_guard lock(mutex_);
    find(digest).done = 0;
}

void TransferProgress::draw(bool force) {
    const auto now = Clock::now();
    if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    std::string frame;
    if (drawn_ > 0) frame += "\x1b[" + std::to_string(drawn_) + "F";  // back to the first line
    for (const auto& line : lines_) {
        frame += "\x1b[2K" + line.id + ": " + line.text;
        const bool moving = line.total > 0 && line.done > 0 && line.done < line.total;
        if (moving) frame += " " + bar(line.done, line.total) + " " + human_bytes(line.done) + "/" + human_bytes(line.total);
        else if (line.total > 0 && line.done == 0) frame += " " + human_bytes(line.total);
        frame += "\n";
    }
    drawn_ = lines_.size();
    out_ << frame << std::flush;
}

} // namespace strata::registry
