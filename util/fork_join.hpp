#pragma once
// A fork-join pool for recursive walks (hashing a build context directory by directory).
// A task may submit subtasks and wait for them; a thread that waits runs queued tasks
// meanwhile, newest first, so nesting never deadlocks and a walk stays depth-first (few
// directories open at once). Workers start on the first submit: a walk that never forks
// costs no thread.
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace strata {

class ForkJoin {
public:
    class Task {
    public:
        explicit Task(std::function<void()> body) : body_(std::move(body)) {}

    private:
        friend class ForkJoin;
        std::function<void()> body_;
        bool done_ = false;
        std::exception_ptr error_;
    };

    // `threads` counts the callers' thread too: 1 runs every task in wait().
    explicit ForkJoin(unsigned threads);
    ~ForkJoin();
    ForkJoin(const ForkJoin&) = delete;
    ForkJoin& operator=(const ForkJoin&) = delete;

    // Queues `task`; it must stay alive until wait(task) returns.
    void submit(Task& task);
    // Returns once `task` has run, running other queued tasks meanwhile; rethrows what it threw.
    void wait(Task& task);

private:
    void run(Task& task) noexcept;
    void work();

    const unsigned threads_;
    std::mutex mutex_;
    std::condition_variable changed_;  // a task was queued or finished, or stopping
    std::vector<Task*> queued_;        // a stack: newest last
    std::vector<std::thread> workers_;
    bool stopping_ = false;
};

} // namespace strata
