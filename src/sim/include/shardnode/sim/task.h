// Task: a move-only `void()` callable with 48 bytes of inline storage, so the
// scheduler's events (a lambda capturing a few pointers and indices) cost no heap
// allocation. Larger or throwing-move callables fall back to one heap allocation.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace shardnode::sim {

class Task {
 public:
  static constexpr std::size_t kInlineSize = 48;

  Task() noexcept = default;
  Task(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor)

  template <class F, class D = std::decay_t<F>,
            std::enable_if_t<!std::is_same_v<D, Task> && std::is_invocable_r_v<void, D&>, int> = 0>
  Task(F&& f) {  // NOLINT(google-explicit-constructor): lambdas convert implicitly
    if constexpr (kFitsInline<D>) {
      ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
      ops_ = &kInlineOps<D>;
    } else {
      ::new (static_cast<void*>(buf_)) D*(new D(std::forward<F>(f)));
      ops_ = &kHeapOps<D>;
    }
  }

  Task(Task&& other) noexcept { take(other); }
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  void reset() noexcept {
    if (ops_ != nullptr) {
      ops_->destroy(buf_);
      ops_ = nullptr;
    }
  }
  explicit operator bool() const noexcept { return ops_ != nullptr; }
  // Precondition: non-empty.
  void operator()() { ops_->call(buf_); }

  // True when a callable of type F is stored without a heap allocation.
  template <class F>
  static constexpr bool stored_inline() noexcept {
    return kFitsInline<std::decay_t<F>>;
  }

 private:
  struct Ops {
    void (*call)(void*);
    void (*move)(void* dst, void* src) noexcept;  // move-constructs dst, destroys src
    void (*destroy)(void*) noexcept;
  };

  template <class D>
  static constexpr bool kFitsInline = sizeof(D) <= kInlineSize && alignof(D) <= alignof(std::max_align_t) &&
                                      std::is_nothrow_move_constructible_v<D>;

  template <class D>
  static D* inline_ptr(void* p) noexcept {
    return std::launder(static_cast<D*>(p));
  }
  template <class D>
  static D*& heap_ptr(void* p) noexcept {
    return *std::launder(static_cast<D**>(p));
  }

  template <class D>
  static void inline_call(void* p) {
    (*inline_ptr<D>(p))();
  }
  template <class D>
  static void inline_move(void* dst, void* src) noexcept {
    D* from = inline_ptr<D>(src);
    ::new (dst) D(std::move(*from));
    from->~D();
  }
  template <class D>
  static void inline_destroy(void* p) noexcept {
    inline_ptr<D>(p)->~D();
  }
  template <class D>
  static void heap_call(void* p) {
    (*heap_ptr<D>(p))();
  }
  template <class D>
  static void heap_move(void* dst, void* src) noexcept {
    ::new (dst) D*(heap_ptr<D>(src));
  }
  template <class D>
  static void heap_destroy(void* p) noexcept {
    delete heap_ptr<D>(p);
  }

  template <class D>
  static constexpr Ops kInlineOps{&inline_call<D>, &inline_move<D>, &inline_destroy<D>};
  template <class D>
  static constexpr Ops kHeapOps{&heap_call<D>, &heap_move<D>, &heap_destroy<D>};

  void take(Task& other) noexcept {
    if (other.ops_ != nullptr) {
      other.ops_->move(buf_, other.buf_);
      ops_ = other.ops_;
      other.ops_ = nullptr;
    }
  }

  alignas(std::max_align_t) unsigned char buf_[kInlineSize];
  const Ops* ops_ = nullptr;
};

}  // namespace shardnode::sim
