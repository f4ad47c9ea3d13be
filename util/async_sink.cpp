#include "util/async_sink.hpp"

#include <algorithm>
#include <cstring>

namespace strata {

AsyncSink::AsyncSink(Consumer consumer, std::size_t buffer_size, std::size_t buffers)
    : consumer_(std::move(consumer)), buffer_size_(std::max<std::size_t>(buffer_size, 1)),
      max_in_flight_(std::max<std::size_t>(buffers, 1)) {
    current_.reserve(buffer_size_);
    thread_ = std::thread([this] { consume_loop(); });
}

AsyncSink::~AsyncSink() {
    if (!thread_.joinable()) return;  // finish() has joined it
    {
        std::lock_guard lock(mutex_);
        closing_ = true;
        full_.clear();  // abandoned: nobody waits for these bytes
    }
    changed_.notify_all();
    thread_.join();
}

void AsyncSink::write(const void* data, std::size_t size) {
    rethrow_if_failed();
    const auto* bytes = static_cast<const unsigned char*>(data);
    while (size > 0) {
        const std::size_t take = std::min(size, buffer_size_ - current_.size());
        current_.insert(current_.end(), bytes, bytes + take);
        bytes += take;
        size -= take;
        if (current_.size() == buffer_size_) hand_over_current();
    }
}

void AsyncSink::finish() {
    if (!current_.empty()) hand_over_current();
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return in_flight_ == 0 || error_; });
    closing_ = true;
    lock.unlock();
    changed_.notify_all();
    thread_.join();
    if (error_) std::rethrow_exception(error_);
}

// Queues the filled buffer and takes a free one, waiting while the consumer is behind.
void AsyncSink::hand_over_current() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return in_flight_ < max_in_flight_ || error_; });
    if (error_) std::rethrow_exception(error_);
    full_.push_back(std::move(current_));
    ++in_flight_;
    if (!free_.empty()) {
        current_ = std::move(free_.back());
        free_.pop_back();
    } else {
        current_ = Buffer();
        current_.reserve(buffer_size_);
    }
    lock.unlock();
    changed_.notify_all();
}

void AsyncSink::consume_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        changed_.wait(lock, [&] { return closing_ || !full_.empty(); });
        if (full_.empty()) return;  // closing, and all consumed
        Buffer buffer = std::move(full_.front());
        full_.pop_front();
        lock.unlock();
        std::exception_ptr error;
        if (!error_) {  // only this thread sets it
            try {
                consumer_(buffer.data(), buffer.size());
            } catch (...) {
                error = std::current_exception();
            }
        }
        lock.lock();
        if (error) error_ = error;
        buffer.clear();
        free_.push_back(std::move(buffer));
        --in_flight_;
        changed_.notify_all();
    }
}

void AsyncSink::rethrow_if_failed() {
    std::lock_guard lock(mutex_);
    if (error_) std::rethrow_exception(error_);
}

} // namespace strata
