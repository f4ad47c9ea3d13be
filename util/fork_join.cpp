#include "util/fork_join.hpp"

namespace strata {

ForkJoin::ForkJoin(unsigned threads) : threads_(threads == 0 ? 1 : threads) {}

ForkJoin::~ForkJoin() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    for (auto& w : workers_) w.join();
}

void ForkJoin::submit(Task& task) {
    {
        std::lock_guard lock(mutex_);
        queued_.push_back(&task);
        // std::thread only throws when the system is out of threads: then the tasks still
        // run, in wait().
        try {
            if (workers_.size() + 1 < threads_) workers_.emplace_back([this] { work(); });
        } catch (const std::system_error&) {
        }
    }
    changed_.notify_one();
}

void ForkJoin::run(Task& task) noexcept {
    try {
        task.body_();
    } catch (...) {
        task.error_ = std::current_exception();
    }
    {
        std::lock_guard lock(mutex_);
        task.done_ = true;
    }
    changed_.notify_all();
}

void ForkJoin::wait(Task& task) {
    std::unique_lock lock(mutex_);
    while (!task.done_) {
        if (queued_.empty()) {
            changed_.wait(lock);
            continue;
        }
        Task* next = queued_.back();
        queued_.pop_back();
        lock.unlock();
        run(*next);
        lock.lock();
    }
    if (task.error_) std::rethrow_exception(task.error_);
}

void ForkJoin::work() {
    std::unique_lock lock(mutex_);
    for (;;) {
        changed_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
        if (queued_.empty()) return;  // stopping, and nothing left
        Task* next = queued_.back();
        queued_.pop_back();
        lock.unlock();
        run(*next);
        lock.lock();
    }
}

} // namespace strata
