DROP TABLE IF EXISTS marketing_unsubscribes;
