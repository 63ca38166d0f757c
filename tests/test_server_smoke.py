def test_smoke(server):
    pm = server.fix("PM1")
    pm.send("D", {11: "A1", 55: "ESZ6", 54: "1", 38: "5", 40: "2", 44: "100", 59: "0", 60: "20261121-09:30:00"})
    pm.sync()
    [er] = pm.take()
    assert er.get_str(150) == "0"
    pm.logout()
