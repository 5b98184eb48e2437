-- A day in the ERP: a price list revised, a dealer renamed, one closed, a
-- product discontinued (it leaves the mirror's where filter), one added.
SET NAMES utf8mb4;
UPDATE TabelaPrecos SET Preco = ROUND(Preco * 1.05, 2), AlteradoEm = NOW(6) WHERE CodTabela = 2;
UPDATE Revendedores SET Nome = 'Garagem Segura, S.A.', Credito = 18000.00 WHERE CodRevendedor = 2;
DELETE FROM Revendedores WHERE CodRevendedor = 6;
UPDATE Produtos SET Ativo = 0 WHERE CodProduto = 'BAS-2500';
INSERT INTO Produtos VALUES ('SEC-2400-V', 'Porta seccionada 2400x2125 com janelas', 2400, 2125, 990.00, 1, NULL);
INSERT INTO TabelaPrecos VALUES (1, 'SEC-2400-V', 990.00, NOW(6));
