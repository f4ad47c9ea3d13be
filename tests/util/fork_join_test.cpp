#include "util/fork_join.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <deque>
#include <set>
#include <stdexcept>
#include <thread>

namespace fork_join_test {  // this file's own names: a folder's tests compile as unity batches

using strata::ForkJoin;

namespace {

// Sums 1..n by splitting the range in halves down to single numbers: every task forks two
// and waits for both, the way a directory waits for its subdirectories.
long long sum_range(ForkJoin& pool, long long lo, long long hi, std::atomic<int>& tasks) {
    ++tasks;
    if (lo == hi) return lo;
    const long long mid = (lo + hi) / 2;
    long long left = 0, right = 0;
    ForkJoin::Task a([&] { left = sum_range(pool, lo, mid, tasks); });
    ForkJoin::Task b([&] { right = sum_range(pool, mid + 1, hi, tasks); });
    pool.submit(a);
    pool.submit(b);
    pool.wait(a);
    pool.wait(b);
    return left + right;
}

} // namespace

TEST_CASE("nested fork-join tasks all run, with one thread or several", "[fork_join]") {
    for (unsigned threads : {1u, 2u, 4u}) {
        ForkJoin pool(threads);
        std::atomic<int> tasks{0};
        CHECK(sum_range(pool, 1, 2000, tasks) == 2000LL * 2001 / 2);
        CHECK(tasks == 3999);  // a full binary tree over 2000 leaves
    }
}

TEST_CASE("tasks run on more than one thread when the pool has them", "[fork_join]") {
    ForkJoin pool(2);
    std::mutex m;
    std::set<std::thread::id> seen;
    std::atomic<int> started{0};
    std::deque<ForkJoin::Task> tasks;
    for (int i = 0; i < 2; ++i)
        tasks.emplace_back([&] {
            {
                std::lock_guard lock(m);
                seen.insert(std::this_thread::get_id());
            }
            ++started;
            // Wait (bounded) until both run at once: only possible on two threads.
            for (int spin = 0; spin < 2000 && started < 2; ++spin) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        });
    for (auto& t : tasks) pool.submit(t);
    for (auto& t : tasks) pool.wait(t);
    CHECK(seen.size() == 2);
}

TEST_CASE("a task's exception reaches the thread that waits for it", "[fork_join]") {
    ForkJoin pool(2);
    std::atomic<int> ran{0};
    ForkJoin::Task good([&] { ++ran; });
    ForkJoin::Task bad([&] {
        ++ran;
        throw std::runtime_error("task failed");
    });
    pool.submit(good);
    pool.submit(bad);
    CHECK_THROWS_WITH(pool.wait(bad), "task failed");
    pool.wait(good);
    CHECK(ran == 2);
}

} // namespace fork_join_test
