-- A small garage-door ERP, the source stand-in for the demo: dealers,
-- products (only active ones are mirrored) and price lists with a composite
-- key and an updated-at column. Portuguese names, as legacy ERPs have them.
SET NAMES utf8mb4;
CREATE TABLE Revendedores (
  CodRevendedor INT PRIMARY KEY,
  Nome VARCHAR(80) NOT NULL,
  Cidade VARCHAR(60) NULL,
  Credito DECIMAL(12,2) NOT NULL,
  Desde DATE NULL,
  Email VARCHAR(120) NULL
) CHARACTER SET utf8mb4;

CREATE TABLE Produtos (
  CodProduto VARCHAR(12) PRIMARY KEY,
  Descricao VARCHAR(120) NOT NULL,
  Largura_mm INT NOT NULL,
  Altura_mm INT NOT NULL,
  PrecoBase DECIMAL(10,2) NOT NULL,
  Ativo TINYINT(1) NOT NULL DEFAULT 1,
  Foto VARBINARY(32) NULL
) CHARACTER SET utf8mb4;

CREATE TABLE TabelaPrecos (
  CodTabela INT NOT NULL,
  CodProduto VARCHAR(12) NOT NULL,
  Preco DECIMAL(10,2) NOT NULL,
  AlteradoEm DATETIME(6) NOT NULL,
  PRIMARY KEY (CodTabela, CodProduto)
) CHARACTER SET utf8mb4;

INSERT INTO Revendedores VALUES
  (1, 'Portões Açores Lda', 'Ponta Delgada', 25000.00, '2011-03-14', 'geral@portoesacores.pt'),
  (2, 'Garagem Segura & Filhos', 'Porto', 12000.50, '2015-09-01', NULL),
  (3, 'Tor Schmidt GmbH', 'München', 40000.00, '2018-01-22', 'info@tor-schmidt.de'),
  (4, 'Puertas del Sur 🚪', 'Sevilla', 8000.00, NULL, ''),
  (5, 'Doors & More', 'Leeds', 15000.00, '2020-06-30', 'sales@doorsandmore.co.uk'),
  (6, 'Portas Minho', 'Braga', 5000.00, '2021-11-11', NULL);

INSERT INTO Produtos VALUES
  ('SEC-2400', 'Porta seccionada 2400x2125 branca', 2400, 2125, 890.00, 1, 0x89504E47),
  ('SEC-3000', 'Porta seccionada 3000x2125 antracite', 3000, 2125, 1090.00, 1, NULL),
  ('BAS-2500', 'Porta basculante 2500x2000', 2500, 2000, 540.00, 1, NULL),
  ('ROL-2000', 'Porta de enrolar 2000x2200 alumínio', 2000, 2200, 760.00, 1, NULL),
  ('MOT-600', 'Motor de teto 600N com 2 comandos', 0, 0, 210.00, 1, NULL),
  ('MOT-1000', 'Motor de teto 1000N (descontinuado)', 0, 0, 320.00, 0, NULL),
  ('CMD-4C', 'Comando 4 canais', 0, 0, 24.90, 1, NULL),
  ('FOT-SET', 'Fotocélulas de segurança', 0, 0, 39.50, 1, NULL);

INSERT INTO TabelaPrecos
SELECT t.CodTabela, p.CodProduto, ROUND(p.PrecoBase * t.Fator, 2), '2026-01-01 09:00:00'
FROM Produtos p
CROSS JOIN (SELECT 1 AS CodTabela, 1.00 AS Fator UNION ALL SELECT 2, 0.90 UNION ALL SELECT 3, 0.85) t;
