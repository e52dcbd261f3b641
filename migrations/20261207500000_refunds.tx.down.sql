DROP TABLE refund_lines;
DROP TABLE refunds;
