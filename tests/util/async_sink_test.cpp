#include "util/async_sink.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

namespace async_sink_test {  // this file's own names: a folder's tests compile as unity batches

using strata::AsyncSink;

namespace {

std::string pattern(std::size_t size) {
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
    return s;
}

} // namespace

TEST_CASE("an async sink passes every byte on in order, in pieces of at most its buffer size", "[async_sink]") {
    const std::string input = pattern(1'000'003);
    const std::size_t buffer_size = GENERATE(1000, 4096, 65536, 1u << 20, 2u << 20);
    std::string received;
    std::size_t largest_piece = 0;
    AsyncSink sink(
        [&](const unsigned char* data, std::size_t size) {
            received.append(reinterpret_cast<const char*>(data), size);
            largest_piece = std::max(largest_piece, size);
        },
        buffer_size, 3);
    // Writes of uneven sizes: some smaller than a buffer, some spanning several.
    std::size_t at = 0;
    for (std::size_t step = 1; at < input.size(); step = step * 3 % 100'003 + 1) {
        const std::size_t n = std::min(step, input.size() - at);
        sink.write(input.data() + at, n);
        at += n;
    }
    sink.finish();
    CHECK(received == input);
    CHECK(largest_piece <= buffer_size);
}

TEST_CASE("an async sink's producer waits for a slow consumer instead of queueing without bound", "[async_sink]") {
    std::atomic<std::size_t> consumed{0};
    std::size_t most_ahead = 0;
    const std::size_t buffer_size = 1000, buffers = 2;
    AsyncSink sink(
        [&](const unsigned char*, std::size_t size) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            consumed += size;
        },
        buffer_size, buffers);
    const std::string chunk(500, 'x');
    std::size_t written = 0;
    for (int i = 0; i < 100; ++i) {
        sink.write(chunk.data(), chunk.size());
        written += chunk.size();
        most_ahead = std::max(most_ahead, written - consumed.load());
    }
    sink.finish();
    CHECK(consumed == written);
    // Queued buffers, the one being consumed, and the one being filled: never more.
    CHECK(most_ahead <= (buffers + 1) * buffer_size);
}

TEST_CASE("a consumer's exception reaches the producer, and later bytes are not consumed", "[async_sink]") {
    std::size_t calls = 0;
    AsyncSink sink(
        [&](const unsigned char*, std::size_t) {
            ++calls;
            throw std::runtime_error("disk full");
        },
        16, 2);
    const std::string data(16, 'y');
    bool thrown = false;
    try {
        for (int i = 0; i < 100; ++i) sink.write(data.data(), data.size());
        sink.finish();
    } catch (const std::runtime_error& e) {
        thrown = true;
        CHECK(std::string(e.what()) == "disk full");
    }
    CHECK(thrown);
    CHECK(calls == 1);
}

TEST_CASE("an async sink destroyed without finish() drops what is queued and returns", "[async_sink]") {
    std::atomic<int> calls{0};
    std::atomic<bool> release{false};
    std::thread releaser;
    {
        AsyncSink sink(
            [&](const unsigned char*, std::size_t) {
                ++calls;
                while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            },
            8, 4);
        const std::string data(24, 'z');
        sink.write(data.data(), data.size());  // three buffers handed over
        while (calls == 0) std::this_thread::yield();  // the consumer holds the first one
        releaser = std::thread([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            release = true;
        });
    }  // the destructor drops the queued buffer and joins the consumer once it is released
    releaser.join();
    CHECK(calls == 1);
}

} // namespace async_sink_test
