// tinbao's own error codes, for `boost::system::result<T>` on the data path: the queue reports
// every failure with one of these, so a caller tests one thing (`if (!r)`) and, where it
// matters, which (`r.error() == Errc::duplicate`).
//
// Plain values; thread-safe.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <type_traits>

namespace tinbao {

enum class Errc {
    // The queue could not answer or could not write (Redis down, the database full or broken):
    // nothing changed; try again later (HTTP answers 503).
    queue_unavailable = 1,
    // No such record (never stored, or expired).
    not_found,
    // The event was seen already: another copy or another stream entry owns it.
    duplicate,
};

const boost::system::error_category& error_category() noexcept;

inline boost::system::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

template <class T>
using Result = boost::system::result<T>;

// An error that converts to any Result<T>, Result<bool> included (a bool would otherwise take
// the error_code through its operator bool): `co_return fail(Errc::not_found);`.
struct Failure {
    Errc code;
    template <class T>
    operator Result<T>() const {
        return Result<T>(boost::system::in_place_error, make_error_code(code));
    }
};

inline Failure fail(Errc e) noexcept {
    return Failure{e};
}

}  // namespace tinbao

template <>
struct boost::system::is_error_code_enum<tinbao::Errc> : std::true_type {};
