import Foundation
import Projections
import Testing

@Suite("Statistics and time buckets")
struct StatisticsTests {
    @Test("Wilson interval: a textbook value, the empty case and clamping at 0 and 1")
    func wilson() throws {
        // 8 of 10 at 95 %: the classic 0.4902 … 0.9433.
        let i = try #require(Statistics.wilson(8, of: 10))
        #expect(abs(i.low - 0.49016247153664183) < 1e-9)
        #expect(abs(i.high - 0.9433178485456247) < 1e-9)
        #expect(Statistics.wilson(0, of: 0) == nil)
        #expect(Statistics.wilson(0, of: 5)?.low == 0)
        #expect(Statistics.wilson(5, of: 5)?.high == 1)
        for (x, n) in [(0, 1), (1, 3), (17, 40), (999, 1000)] {
            let engine = try #require(Statistics.wilson(x, of: n)), naive = try #require(Naive.wilson(x, n))
            #expect(abs(engine.low - naive.low) < 1e-12 && abs(engine.high - naive.high) < 1e-12)
        }
    }

    @Test("quantiles interpolate between closest ranks")
    func quantiles() {
        #expect(Statistics.quantile(sorted: [], 0.5) == nil)
        #expect(Statistics.quantile(sorted: [7], 0.9) == 7)
        #expect(Statistics.quantile(sorted: [1, 2, 3, 4], 0.5) == 2.5)
        // h = 3 × 0.9 = 2.7 → 3 + 0.7 × (10 − 3).
        #expect(abs(Statistics.quantile(sorted: [1, 2, 3, 10], 0.9)! - 7.9) < 1e-12)
        #expect(Statistics.quantile(sorted: [1, 2, 3, 10], 1) == 10)
        #expect(Statistics.quantile(sorted: [1, 2, 3, 10], 0) == 1)
    }

    @Test("quantiles by selection equal quantiles of the sorted values, duplicates and extremes included")
    func quantilesBySelection() {
        var empty: [Double] = []
        #expect(Statistics.quantiles(selecting: &empty, [0.5, 0.9]) == [nil, nil])
        var generator = SystemRandomNumberGenerator()
        let qs = [0, 0.1, 0.5, 0.9, 0.99, 1]
        for count in [1, 2, 3, 10, 101, 5_000] {
            for spread in [3, 1_000_000] {
                var values = (0..<count).map { _ in Double(Int.random(in: 0..<spread, using: &generator)) / 4 }
                let sorted = values.sorted()
                let selected = Statistics.quantiles(selecting: &values, qs)
                #expect(selected == qs.map { Statistics.quantile(sorted: sorted, $0) }, "\(count) values below \(spread)")
                #expect(values.sorted() == sorted, "selection only reorders")
            }
        }
        // Already sorted, reversed and constant inputs, which trip naive pivots.
        for var values in [
            Array(stride(from: 0.0, to: 4_000, by: 1)), Array(stride(from: 4_000.0, to: 0, by: -1)), Array(repeating: 2.5, count: 4_000),
        ] {
            let sorted = values.sorted()
            #expect(Statistics.quantiles(selecting: &values, qs) == qs.map { Statistics.quantile(sorted: sorted, $0) })
        }
    }

    @Test("day, ISO week (Monday) and month buckets, across a year's end and before 1970")
    func buckets() {
        // 2026-01-01 is a Thursday: its ISO week starts on Monday 2025-12-29.
        let t = at("2026-01-01T23:59:59Z")
        #expect(Bucket.dayString(Bucket.day.start(of: t)) == "2026-01-01")
        #expect(Bucket.dayString(Bucket.week.start(of: t)) == "2025-12-29")
        #expect(Bucket.dayString(Bucket.month.start(of: t)) == "2026-01-01")
        // A Monday at midnight starts its own week; the Sunday before belongs to the previous one.
        #expect(Bucket.week.start(of: at("2026-03-09T00:00:00Z")) == at("2026-03-09T00:00:00Z"))
        #expect(Bucket.dayString(Bucket.week.start(of: at("2026-03-08T23:59:59.999999Z"))) == "2026-03-02")
        #expect(Bucket.dayString(Bucket.month.start(of: at("2024-02-29T12:00:00Z"))) == "2024-02-01")
        #expect(Bucket.dayString(Bucket.week.start(of: at("1969-12-31T12:00:00Z"))) == "1969-12-29")
        #expect(Bucket.dayString(Bucket.day.start(of: at("1969-12-31T12:00:00Z"))) == "1969-12-31")
        // Every day of four years against Foundation's calendar.
        var mismatches: [String] = []
        var day = at("2023-01-01T06:00:00Z")
        while day < at("2027-01-01T00:00:00Z") {
            for bucket in Bucket.allCases where Bucket.dayString(bucket.start(of: day)) != Naive.bucketStart(bucket, day) {
                mismatches.append("\(bucket) \(Bucket.dayString(day))")
            }
            day += microsPerDay
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }
}
