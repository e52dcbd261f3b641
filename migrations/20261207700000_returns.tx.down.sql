DROP TABLE return_lines;
DROP TABLE returns;
