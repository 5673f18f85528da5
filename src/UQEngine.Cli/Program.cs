Console.WriteLine("uqengine");
