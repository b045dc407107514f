#!/usr/bin/python3
"""A flaky unit test that depends on the date: it fails on Feb 29.

"Renew a subscription for one year" is written as date.replace(year+1),
which raises ValueError on Feb 29 (there is no Feb 29 next year). The test
passes on 365 days of 366. Expected: detrun flaky names
`culprit: time (start 2024-02-29T12:00:00Z: Feb 29 of a leap year)`.
"""
import datetime


def renewal(today):
    return today.replace(year=today.year + 1)


today = datetime.date.today()
print("renews on", renewal(today))
