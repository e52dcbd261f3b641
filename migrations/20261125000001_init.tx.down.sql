DROP TABLE IF EXISTS notifications;
DROP TABLE IF EXISTS staff_users;
DROP TABLE IF EXISTS customers;
DROP TABLE IF EXISTS inventory_transactions;
DROP TABLE IF EXISTS product_images;
DROP TABLE IF EXISTS products;
